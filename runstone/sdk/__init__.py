"""The Python SDK: RunstoneClient, the fluent API, background batching and the offline journal."""

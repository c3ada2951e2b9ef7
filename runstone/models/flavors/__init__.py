"""One module per model library; ``runstone.<flavor>`` re-exports each."""

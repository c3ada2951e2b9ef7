"""Native REST API under /api/v1: thin routes (parse, one service call, serialize)."""

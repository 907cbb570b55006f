"""Background jobs: long work run by a worker with progress, results and schedules (huey underneath)."""

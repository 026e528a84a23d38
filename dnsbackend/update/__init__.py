"""Keeping the store in step with the files: write jobs, the zone policy, the watchers."""

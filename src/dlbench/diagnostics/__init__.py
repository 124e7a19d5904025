"""Looking inside training: gradient checks, per-layer statistics, pictures, tuning, debug runs.

Each module does one job and knows nothing of files beyond the directory it is handed.
"""

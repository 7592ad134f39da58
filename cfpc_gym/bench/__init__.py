"""The bench workflow (``cfpc-gym bench``, ``cfpc-gym sweep``): tasks x methods x seeds side by side.

``config`` (what to run), ``cells`` (one task, method and seed each, run on a process pool),
``baselines`` (Stable-Baselines3 PPO and SAC), ``store`` (finished cells on disk, for resume),
``report`` (tables, CSV, JSON), ``plots`` (error against env steps), ``sweep`` (grids on Ray).
"""

"""The run workflow (``cfpc-gym run``, ``cfpc-gym render``): the trial loop (``runner``), what it
measures (``results``), checkpoints (``checkpoint``), the files it writes (``outputs``, ``plots``)
and videos (``render``)."""

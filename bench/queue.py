"""Queue latency benchmark: `.venv/bin/python bench/queue.py --help` (the code is in queue_latency.py).

Running a script puts its folder first on the import path, so inside bench/ this file is what
`import queue` finds, for every script here and for the libraries they use (multiprocessing,
psycopg). When imported rather than run, it therefore loads and becomes the standard library's
queue module, so the name shadows nothing.
"""

import sys

if __name__ != "__main__":
    import importlib.util
    import os
    import sysconfig

    _spec = importlib.util.spec_from_file_location("queue", os.path.join(sysconfig.get_paths()["stdlib"], "queue.py"))
    _stdlib_queue = importlib.util.module_from_spec(_spec)
    sys.modules["queue"] = _stdlib_queue  # the import system returns whatever sys.modules holds now
    _spec.loader.exec_module(_stdlib_queue)
else:
    from queue_latency import main

    main()

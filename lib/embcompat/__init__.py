"""embcompat: a research workbook on embedding model compatibility."""
import os as _os

# On a shared 2-core machine, OpenMP threads that spin while waiting make torch 4-5x slower as
# soon as another process holds a core (measured here: 1.9 s vs 0.45 s per ResNet batch). Passive
# waiting costs little when the machine is free. It must be set before torch loads libgomp, so it
# is set here, on the package's import, unless the user chose a policy.
_os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

__version__ = "0.1.0"

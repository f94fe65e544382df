"""Applications (cuti, izin belajar) on one workflow engine. Importing the package registers
the types, so callers use `services.applications.engine` with any of them."""
from services.applications import cuti  # noqa: F401  (registers the type)
from services.applications import izin_belajar  # noqa: F401  (registers the type)

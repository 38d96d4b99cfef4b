"""The fingerprint core's loops in C (r2d2/engines/_ckernels.c). Optional: where no C compiler
is at hand the install goes on without them, and numba's loops run instead (engines/kernels.py).
Everything else about the package is in pyproject.toml."""

from setuptools import Extension, setup

setup(ext_modules=[Extension("r2d2.engines._ckernels", ["r2d2/engines/_ckernels.c"],
                             extra_compile_args=["-O3", "-std=c99", "-fno-strict-aliasing"], optional=True)])

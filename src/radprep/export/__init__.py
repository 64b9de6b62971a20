"""Writing arrays to files: PNG 8/16-bit, NPY; tensor layouts."""

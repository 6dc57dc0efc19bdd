"""`python -m benchmarks [--quick] [--only NAME ...]`: the same as `fitmirror bench`."""

import sys

from benchmarks import main

sys.exit(main(sys.argv[1:]))

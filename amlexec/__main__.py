"""``python -m amlexec`` runs the command line."""

import sys

from amlexec.cli import main

sys.exit(main())

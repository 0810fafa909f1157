import sys

from crosscheck.app.cli import main

sys.exit(main())

import sys

from sentinel_vip.cli import main

sys.exit(main())

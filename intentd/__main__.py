from intentd.cli import main
import sys

sys.exit(main())

"""`python -m demo`: start the GAN Explorer web app (options: python -m demo --help)."""

import sys

from demo.app import main

sys.exit(main())

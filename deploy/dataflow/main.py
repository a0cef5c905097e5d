"""Flex Template entry file (FLEX_TEMPLATE_PYTHON_PY_FILE): the launcher runs it with the template parameters.

All logic lives in the installed package (``pipeline.template``), so the launcher
and the workers run the same code from the same image.
"""

import sys

from pipeline.template import main

if __name__ == "__main__":
    sys.exit(main())

"""``python -m zoo.studies --update README.md``: rewrite the README's verdict tables (its
``<!-- verdicts:STUDY -->`` blocks) from the studies' committed summary.json files."""

import argparse

from zoo.studies.claims import update_readme
from zoo.studies.runner import STUDY_RESULTS

parser = argparse.ArgumentParser(prog="python -m zoo.studies",
                                 description="regenerate the README's verdict tables")
parser.add_argument("--update", required=True, metavar="README")
args = parser.parse_args()
print("updated" if update_readme(args.update, STUDY_RESULTS) else "unchanged", args.update)

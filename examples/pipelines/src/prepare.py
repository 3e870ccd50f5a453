"""Prepare step: keep one region's loan applications and derive the model's features."""

import argparse
import csv
import json
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--applications", required=True)
    parser.add_argument("--region", required=True)
    parser.add_argument("--prepared", required=True)
    args = parser.parse_args()

    out_dir = Path(args.prepared)
    out_dir.mkdir(parents=True, exist_ok=True)
    kept = 0
    with (
        open(args.applications, newline="", encoding="utf-8") as src,
        open(out_dir / "features.csv", "w", newline="", encoding="utf-8") as dst,
    ):
        writer = csv.writer(dst)
        writer.writerow(
            ["application_id", "debt_to_income", "monthly_burden", "credit_score", "years_employed", "prior_defaults"]
        )
        for row in csv.DictReader(src):
            if args.region.upper() not in ("ALL", row["region"].upper()):
                continue
            income = float(row["income"])
            amount = float(row["loan_amount"])
            writer.writerow(
                [
                    row["application_id"],
                    round(amount / income, 4),
                    round(amount / float(row["term_months"]) / (income / 12), 4),
                    row["credit_score"],
                    row["years_employed"],
                    row["prior_defaults"],
                ]
            )
            kept += 1
    (out_dir / "summary.json").write_text(json.dumps({"region": args.region, "applications": kept}))
    print(f"prepared {kept} applications for region {args.region}")


if __name__ == "__main__":
    main()

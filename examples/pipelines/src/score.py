"""Score step: a fixed logistic model of default risk; flags applications above the threshold."""

import argparse
import csv
import json
import math
from pathlib import Path

# Coefficients of a small logistic model, fixed so the example needs no training or downloads.
WEIGHTS = {
    "debt_to_income": 2.1,
    "monthly_burden": 3.4,
    "credit_score": -0.012,
    "years_employed": -0.06,
    "prior_defaults": 0.9,
}
INTERCEPT = 5.2


def default_probability(features: dict[str, float]) -> float:
    z = INTERCEPT + sum(WEIGHTS[name] * value for name, value in features.items())
    return 1.0 / (1.0 + math.exp(-z))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--prepared", required=True)
    parser.add_argument("--threshold", type=float, required=True)
    parser.add_argument("--scoring-date", required=True)
    parser.add_argument("--batch-label", required=True)
    parser.add_argument("--dry-run", required=True)
    parser.add_argument("--scores", required=True)
    args = parser.parse_args()

    out_dir = Path(args.scores)
    out_dir.mkdir(parents=True, exist_ok=True)
    flagged = total = 0
    with (
        open(Path(args.prepared) / "features.csv", newline="", encoding="utf-8") as src,
        open(out_dir / "scores.csv", "w", newline="", encoding="utf-8") as dst,
    ):
        writer = csv.writer(dst)
        writer.writerow(["application_id", "default_probability", "decision", "scoring_date"])
        for row in csv.DictReader(src):
            features = {name: float(row[name]) for name in WEIGHTS}
            probability = default_probability(features)
            decision = "review" if probability >= args.threshold else "approve"
            flagged += decision == "review"
            total += 1
            writer.writerow([row["application_id"], f"{probability:.4f}", decision, args.scoring_date])
    summary = {
        "scored": total,
        "flagged_for_review": flagged,
        "threshold": args.threshold,
        "scoring_date": args.scoring_date,
        "batch_label": args.batch_label,
        "dry_run": args.dry_run.lower() == "true",
    }
    (out_dir / "summary.json").write_text(json.dumps(summary, indent=2))
    print(f"scored {total} applications, {flagged} flagged for review (threshold {args.threshold})")


if __name__ == "__main__":
    main()

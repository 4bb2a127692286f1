#!/usr/bin/python3
"""Trains buy_again_xgb: the shop's "will buy again in 30 days" model, in
XGBoost, the way a data scientist would outside Tandem; Tandem then serves
model.json in Go with features from its online store.

Run from the shop project, after `tandem build` (Debian: apt-get install
python3-xgboost):

    python3 ml/buy_again_xgb/train.py

It asks Tandem for two point-in-time training sets:
  - every labelled order with the customer's features as known right after
    it; the model learns from the orders before 2011-06-01 (the spec's
    temporal cut-off, so `tandem ml eval` tests it on later orders);
  - every customer's features as of 2011-09-01, the end of the data: what
    the online store serves after `tandem features materialize`;
and writes model.json and reference_predictions.csv (XGBoost's own
predictions for a sample of customers as of 2011-09-01), which Tandem's
tests compare with what /api/v1/models/buy_again_xgb/predict answers.
"""
import csv
import math
import os
import subprocess
import sys
import tempfile

import numpy as np
import xgboost as xgb

HERE = os.path.dirname(os.path.abspath(__file__))
FEATURES = ["frequency", "monetary", "avg_order_value", "days_since_prev_order"]
REFS = ",".join("customer_rfm:" + f for f in FEATURES)
CUTOFF = "2011-06-01"
AS_OF = "2011-09-01"


def training_set(tandem, sql, out):
    subprocess.run([tandem, "features", "historical", "--entities-sql", sql,
                    "--features", REFS, "--out", out], check=True, stdout=subprocess.DEVNULL)
    with open(out, newline="") as f:
        return list(csv.DictReader(f))


def matrix(rows):
    return np.array([[float(r[f]) if r[f] != "" else math.nan for f in FEATURES] for r in rows], dtype=np.float32)


def main():
    tandem = os.environ.get("TANDEM", "tandem")
    with tempfile.TemporaryDirectory() as tmp:
        labelled = training_set(tandem, "select customer_id, event_timestamp, bought_again_30d "
                                "from repeat_purchase_labels", os.path.join(tmp, "train.csv"))
        now = training_set(tandem, "select customer_id, timestamp '%s' as event_timestamp "
                           "from customers order by customer_id" % AS_OF, os.path.join(tmp, "now.csv"))
    train = [r for r in labelled if r["event_timestamp"] < CUTOFF]
    y = np.array([1.0 if r["bought_again_30d"] == "true" else 0.0 for r in train])
    d = xgb.DMatrix(matrix(train), label=y, feature_names=FEATURES, missing=math.nan)
    params = {"objective": "binary:logistic", "max_depth": 3, "eta": 0.1, "subsample": 1.0,
              "tree_method": "exact", "nthread": 1, "seed": 0, "eval_metric": "auc"}
    booster = xgb.train(params, d, num_boost_round=40)
    booster.save_model(os.path.join(HERE, "model.json"))

    # Every 10th customer, and every customer with a missing feature (one
    # order only: no days since the previous one) among the first 600.
    sample = [r for i, r in enumerate(now) if i % 10 == 0 or (i < 600 and r["days_since_prev_order"] == "")]
    pred = booster.predict(xgb.DMatrix(matrix(sample), feature_names=FEATURES, missing=math.nan))
    with open(os.path.join(HERE, "reference_predictions.csv"), "w", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(["customer_id"] + FEATURES + ["prediction"])
        for r, p in zip(sample, pred):
            w.writerow([r["customer_id"]] + [r[f] for f in FEATURES] + ["%.9g" % p])
    print("trained on %d orders before %s (%.1f%% positive); model.json and reference_predictions.csv "
          "(%d customers as of %s) written in %s" % (len(train), CUTOFF, 100 * y.mean(), len(sample), AS_OF, HERE),
          file=sys.stderr)


if __name__ == "__main__":
    main()

"""PPCL (Zhang, Qiu, Xie): popularity regression with three supervised contrastive tasks."""

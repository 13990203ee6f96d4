//! Metric names: which are acceptable, and where their files live. SKELETON (issue 3).

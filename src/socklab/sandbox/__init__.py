"""Mechanisms around untrusted programs: a private filesystem/process view (bubblewrap) and
per-submission cgroups. The grader composes them in socklab.grade.sandbox."""

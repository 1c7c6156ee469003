{#- Drift of each model version's features, per period (var monitoring_grain): what it scored or
    served (mon_scored_distributions) against the frozen reference registered with the version
    (registry.reference_distributions, role feature). The statistics are defined in
    macros/drift.sql. -#}
{{ scored_drift('feature') }}

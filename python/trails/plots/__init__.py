"""``trails plots``: declared plots (``definitions``), their data at each
revision (``revisions``, ``sources``), points in the reference tool's
conventions (``convert``), Vega-Lite templates (``templates``), the charts
(``charts``), their ``--json`` records (``records``) and files (``render``)."""

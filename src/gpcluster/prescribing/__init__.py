"""Prescribing at national scale: PHS "Prescriptions in the Community" loaded month by month
(`ingest`), the BNF hierarchy and code selections (`bnf`), prescribing measures as catalogue
indicators (series kind ``prescribing``; monthly values, centiles and savings in `measures`), synthetic
prescribing for the demo (`gpcluster.synthetic.prescribing`) and a Spark engine for what outgrows one
machine (`spark`). See docs/prescribing.md."""

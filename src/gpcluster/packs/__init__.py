"""Cluster packs: a self-contained HTML file and a PDF per cluster and period, published as numbered
immutable versions, and the loop around them (PQL responses, the CQL's meeting, actions, e-mail).

    source.py     the period's figures, read once from the warehouse (read-only)
    content.py    one cluster's pack as data, released for the cluster's own viewers; its hash
    charts.py     Vega-Lite charts drawn by vl-convert (SVG; JPEG images for the PDF), trends from templates
    render.py     HTML (inline CSS and SVG, no script) and PDF (WeasyPrint)
    build.py      one pack, or every cluster's in parallel over the cores
    publish.py    numbered immutable versions, registered in the store, under a file lock
    changes.py    what a corrected version changes
    loop.py       responses, meetings and actions (store), and the pack's loop section
    notify.py     e-mail: pack published, meeting reminder, actions due

See docs/packs.md.
"""

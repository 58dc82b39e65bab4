"""What the product keeps on disk for keepalived, admins and node_exporter: small files
written atomically (``disk``), the notify history (``history``), the metrics textfile
(``metrics``), and the dependency-free JSON codec they use (``plainjson``).

Acquisition and decisions live elsewhere; these modules only read and write files.
"""

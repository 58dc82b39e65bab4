"""What the product keeps on disk for keepalived, admins and node_exporter: small files
written atomically and every file opened where another user could plant something
(``disk``), who besides us can change a path (``writers``), the notify history
(``history``), the metrics textfile (``metrics``), the check's state and the ordered track
file writer (``checkstate``, ``track``), the fence's tripwire (``tripwire``), and the
dependency-free JSON codec they use (``plainjson``).

Acquisition and decisions live elsewhere; these modules only read and write files.
"""

"""Allow ``python -m provisioner ...`` as well as the ``provisioner`` script."""

from provisioner.cli import main

main()

"""Sweeps on Kubernetes: objects, manifests, and a launcher (the ``k8s`` extra).

=================  ==========================================================
module             concept
=================  ==========================================================
``objects``        every Kubernetes object of a deployment, built in code
``render``         those objects as the YAML files under ``k8s/``
``cluster``        kubeconfig or in-cluster configuration, API error mapping
``portforward``    a local port that leads to a pod, through the API
``launcher``       ``KubeLauncher``: up, run, follow, scale, logs, down
``observe``        a run as the cluster shows it: pods, Jobs, progress
``sweep``          many runs in a row on a cluster, for the notebooks
``cli``            the ``ttg k8s`` command group
``errors``         the launcher's errors, under ``ttglib.errors.TtgError``
=================  ==========================================================

Only ``cli`` and ``errors`` import without the ``kubernetes`` package; the
rest need ``pip install 'ttglib[k8s]'``. See ``docs/kubernetes.md`` for a walk
through a kind cluster.
"""

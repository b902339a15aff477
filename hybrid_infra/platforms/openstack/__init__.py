"""OpenStack: Neutron network and security groups, an Octavia or kube-vip API endpoint, Nova node
pools booting from Cinder volumes, and the OpenStack cloud controller manager with Cinder CSI.

Only ``infrastructure`` and the modules it imports need the SDK (``hybrid-infra[openstack]``).
"""

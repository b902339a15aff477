"""vSphere: node pools cloned from a template with cloud-init through guestinfo, a kube-vip (or
external load balancer) API endpoint, DRS anti-affinity for the control plane, and the vSphere cloud
provider (CPI) with the vSphere CSI driver.

Only ``infrastructure`` and the modules it imports need the SDK (``hybrid-infra[vsphere]``).
"""

"""AWS: a VPC with private and public subnets over several zones (or one reused), security groups per
role, Network Load Balancers for the API, EC2 node pools with nested virtualization where VMs run, and
the AWS cloud controller manager with the EBS CSI driver.

Only ``infrastructure`` and the modules it imports need the SDK (``hybrid-infra[aws]``).
"""

"""The hybrid-infra Pulumi program, and the entry point of its component provider.

`pulumi up` (Pulumi.yaml) runs this file as the project's program, after the language host has
connected the Pulumi runtime to the engine: it reads the stack config and builds the platform.
As the plugin of PulumiPlugin.yaml (what `pulumi package add` installs for programs in other
languages) nothing is connected yet: it serves the components of hybrid_infra.provider.
"""

import pulumi

if pulumi.runtime.settings.get_monitor() is not None:
    from hybrid_infra.platform import program

    program()
else:
    from hybrid_infra.provider import serve

    serve()

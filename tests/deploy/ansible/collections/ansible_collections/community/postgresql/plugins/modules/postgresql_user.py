#!/usr/bin/python
"""Stand-in for community.postgresql.postgresql_user: accepts its arguments, changes nothing."""

from ansible.module_utils.basic import AnsibleModule

DOCUMENTATION = r"""
module: postgresql_user
short_description: Stand-in for community.postgresql.postgresql_user
description: Accepts the arguments of the real module and changes nothing.
options:
  name:
    description: Name of the role or database.
    type: str
    required: true
  password:
    description: Password of the role.
    type: str
  owner:
    description: Owner of the database.
    type: str
  encoding:
    description: Encoding of the database.
    type: str
author: fedora-ci
"""


def main():
    module = AnsibleModule(
        argument_spec={
            "name": {"type": "str", "required": True},
            "password": {"type": "str", "no_log": True},
            "owner": {"type": "str"},
            "encoding": {"type": "str"},
        },
        supports_check_mode=True,
    )
    module.exit_json(changed=False)


if __name__ == "__main__":
    main()

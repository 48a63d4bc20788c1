"""django-tiers' policy pack: `pulumi preview --policy-pack policy` runs the rules in rules.py."""

from pulumi_policy import EnforcementLevel, PolicyPack
from rules import POLICIES

PolicyPack(name="django-tiers", policies=POLICIES, enforcement_level=EnforcementLevel.MANDATORY)

"""The sandbox's EC2 rules: images, snapshots, copies, instances, account controls, templates, references."""

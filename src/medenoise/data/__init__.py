"""Data: image file I/O (`medenoise.data.io`), datasets, patches and tiling.

Kept import-free so that `import medenoise.data` stays cheap; import the submodules you need.
"""

"""The mapping engine: YAML files `mappings/<system>/<entity>.yaml` turn source records into canonical data.

    from mappings import load_mapping
    mapping = load_mapping("soap_erp/customer")     # parsed, checked, compiled once per process
    data = mapping.apply(record.payload)             # canonical dict, or MappingError(field=…, rule=…)

See `mappings/README.md` for the file format, the transforms and how to test a mapping.
"""

from mappings._check import check_all
from mappings._compile import Mapping
from mappings._load import MAPPINGS_DIR, clear_caches, load_mapping, load_mapping_file, mapping_names
from mappings._transforms import TRANSFORMS

__all__ = [
    "MAPPINGS_DIR",
    "TRANSFORMS",
    "Mapping",
    "check_all",
    "clear_caches",
    "load_mapping",
    "load_mapping_file",
    "mapping_names",
]

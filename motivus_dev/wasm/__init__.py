"""Reading WebAssembly modules: their structure (:mod:`.module`) and the proposals they use
that the platform's oldest workers cannot load (:mod:`.features`)."""

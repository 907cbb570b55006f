"""融资对接: lenders' products, firms' financing needs, matching with reasons, pickup and the clock."""

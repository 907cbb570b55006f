"""The user guide (用户指南): docs/guide/<locale>/<module>.md served inside the app at /help."""

"""Wire models of the native REST API: XCreate / XUpdate / XPublic / XsPublic."""

"""Reports for operators: JSON for scripts, tables for people, PNG plots where a picture reads faster."""

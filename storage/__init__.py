"""Where documents and archived emails live: an S3 bucket, or a local folder by default."""

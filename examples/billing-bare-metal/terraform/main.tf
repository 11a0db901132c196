resource "aws_lb" "billing" {
  name               = "billing"
  load_balancer_type = "application"
}

resource "aws_lb_target_group" "billing" {
  name     = "billing"
  port     = 6543
  protocol = "HTTP"
}

resource "aws_s3_bucket" "logs" {
  bucket = "billing-logs"
}

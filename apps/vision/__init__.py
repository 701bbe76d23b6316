"""The vision app: image classification (LeNet-5, AlexNet-style, CIFAR ResNets, ResNet-50)."""

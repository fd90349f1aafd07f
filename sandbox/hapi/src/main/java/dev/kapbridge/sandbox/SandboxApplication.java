package dev.kapbridge.sandbox;

public class SandboxApplication {
	public static void main(String[] args) {}
}

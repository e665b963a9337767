// SPDX-License-Identifier: GPL-2.0
/*
 * ovmm_edu: the lab's test driver for QEMU's "edu" teaching device (1234:11e8), run inside the
 * lab guest on a device passed through by ovmm. At probe it checks the ID and liveness registers,
 * computes a factorial, runs a DMA transfer into a coherent buffer and back, and raises
 * interrupts that its handler counts: by MSI when the device offers it, else by INTx (what the
 * PCI core gives, exactly as for a real driver). The outcome is one kernel log line:
 *   EDU-RESULT bdf=... id=0x010000ed live=ok fact=120 dma=ok irq=msi|intx count=N
 * or EDU-FAIL bdf=... <what failed>, in which case probe fails.
 */
#include <linux/module.h>
#include <linux/pci.h>
#include <linux/interrupt.h>
#include <linux/dma-mapping.h>
#include <linux/delay.h>
#include <linux/wait.h>
#include <linux/atomic.h>

#define EDU_ID		0x00
#define EDU_LIVE	0x04
#define EDU_FACT	0x08
#define EDU_STATUS	0x20
#define EDU_IRQ_STATUS	0x24
#define EDU_IRQ_RAISE	0x60
#define EDU_IRQ_ACK	0x64
#define EDU_DMA_SRC	0x80
#define EDU_DMA_DST	0x88
#define EDU_DMA_COUNT	0x90
#define EDU_DMA_CMD	0x98
#define EDU_DMA_BUF	0x40000
#define EDU_DMA_LEN	256

static unsigned int nirq = 5;
module_param(nirq, uint, 0444);
MODULE_PARM_DESC(nirq, "interrupts to raise and count");

struct edu {
	struct pci_dev *pdev;
	void __iomem *bar;
	atomic_t count;
	wait_queue_head_t wq;
	int irq;
};

static irqreturn_t edu_irq(int irq, void *data)
{
	struct edu *e = data;
	u32 status = ioread32(e->bar + EDU_IRQ_STATUS);

	if (!status)
		return IRQ_NONE;
	iowrite32(status, e->bar + EDU_IRQ_ACK);
	atomic_inc(&e->count);
	wake_up(&e->wq);
	return IRQ_HANDLED;
}

/* Waits until (reg & mask) == 0; false after about a second. */
static bool edu_wait_clear(struct edu *e, unsigned int reg, u32 mask)
{
	int i;

	for (i = 0; i < 1000; i++) {
		if (!(ioread32(e->bar + reg) & mask))
			return true;
		msleep(1);
	}
	return false;
}

static bool edu_dma(struct edu *e, u64 src, u64 dst, u32 cmd)
{
	writeq(src, e->bar + EDU_DMA_SRC);
	writeq(dst, e->bar + EDU_DMA_DST);
	writeq(EDU_DMA_LEN, e->bar + EDU_DMA_COUNT);
	writeq(cmd | 1, e->bar + EDU_DMA_CMD);
	return edu_wait_clear(e, EDU_DMA_CMD, 1);
}

/* DMA a pattern from RAM into the device, then back into the other half of the buffer. */
static const char *edu_dma_test(struct edu *e)
{
	struct device *dev = &e->pdev->dev;
	dma_addr_t handle;
	u8 *buf;
	const char *err = NULL;
	int i;

	buf = dma_alloc_coherent(dev, 2 * EDU_DMA_LEN, &handle, GFP_KERNEL);
	if (!buf)
		return "dma_alloc_coherent failed";
	for (i = 0; i < EDU_DMA_LEN; i++) {
		buf[i] = (u8)(i * 7 + 3);
		buf[EDU_DMA_LEN + i] = 0;
	}
	if (!edu_dma(e, handle, EDU_DMA_BUF, 0))
		err = "DMA to the device did not finish";
	else if (!edu_dma(e, EDU_DMA_BUF, handle + EDU_DMA_LEN, 2))
		err = "DMA to RAM did not finish";
	else if (memcmp(buf, buf + EDU_DMA_LEN, EDU_DMA_LEN))
		err = "DMA bytes differ";
	dma_free_coherent(dev, 2 * EDU_DMA_LEN, buf, handle);
	return err;
}

static int edu_fail(struct edu *e, const char *what, u32 value)
{
	pr_info("EDU-FAIL bdf=%s %s (0x%x)\n", pci_name(e->pdev), what, value);
	return -EIO;
}

static int edu_probe(struct pci_dev *pdev, const struct pci_device_id *id)
{
	struct edu *e;
	const char *err;
	u32 v;
	unsigned int i;
	int ret;

	e = devm_kzalloc(&pdev->dev, sizeof(*e), GFP_KERNEL);
	if (!e)
		return -ENOMEM;
	e->pdev = pdev;
	init_waitqueue_head(&e->wq);
	ret = pcim_enable_device(pdev);
	if (ret)
		return edu_fail(e, "pcim_enable_device failed", ret);
	ret = pcim_iomap_regions(pdev, BIT(0), "ovmm_edu");
	if (ret)
		return edu_fail(e, "cannot map BAR0", ret);
	e->bar = pcim_iomap_table(pdev)[0];
	pci_set_drvdata(pdev, e);

	v = ioread32(e->bar + EDU_ID);
	if (v != 0x010000ed)
		return edu_fail(e, "wrong ID register", v);
	iowrite32(0x12345678, e->bar + EDU_LIVE);
	v = ioread32(e->bar + EDU_LIVE);
	if (v != ~0x12345678u)
		return edu_fail(e, "liveness check failed", v);
	iowrite32(5, e->bar + EDU_FACT);
	if (!edu_wait_clear(e, EDU_STATUS, 1))
		return edu_fail(e, "factorial did not finish", ioread32(e->bar + EDU_STATUS));
	v = ioread32(e->bar + EDU_FACT);
	if (v != 120)
		return edu_fail(e, "wrong factorial of 5", v);

	ret = dma_set_mask_and_coherent(&pdev->dev, DMA_BIT_MASK(64));
	if (ret)
		return edu_fail(e, "dma_set_mask failed", ret);
	pci_set_master(pdev);
	err = edu_dma_test(e);
	if (err)
		return edu_fail(e, err, 0);

	ret = pci_alloc_irq_vectors(pdev, 1, 1, PCI_IRQ_MSI | PCI_IRQ_LEGACY);
	if (ret < 0)
		return edu_fail(e, "pci_alloc_irq_vectors failed", ret);
	e->irq = pci_irq_vector(pdev, 0);
	ret = request_irq(e->irq, edu_irq, IRQF_SHARED, "ovmm_edu", e);
	if (ret) {
		pci_free_irq_vectors(pdev);
		return edu_fail(e, "request_irq failed", ret);
	}
	for (i = 0; i < nirq; i++) {
		iowrite32(1u << (i % 8), e->bar + EDU_IRQ_RAISE);
		if (!wait_event_timeout(e->wq, atomic_read(&e->count) > i, HZ))
			break;
	}
	pr_info("EDU-RESULT bdf=%s id=0x%08x live=ok fact=%u dma=ok irq=%s linux_irq=%d count=%d\n",
		pci_name(pdev), ioread32(e->bar + EDU_ID), ioread32(e->bar + EDU_FACT),
		pdev->msi_enabled ? "msi" : "intx", e->irq, atomic_read(&e->count));
	return 0;
}

static void edu_remove(struct pci_dev *pdev)
{
	struct edu *e = pci_get_drvdata(pdev);

	free_irq(e->irq, e);
	pci_free_irq_vectors(pdev);
}

static const struct pci_device_id edu_ids[] = {
	{ PCI_DEVICE(0x1234, 0x11e8) },
	{ }
};
MODULE_DEVICE_TABLE(pci, edu_ids);

static struct pci_driver edu_driver = {
	.name = "ovmm_edu",
	.id_table = edu_ids,
	.probe = edu_probe,
	.remove = edu_remove,
};
module_pci_driver(edu_driver);

MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("ovmm lab test driver for QEMU's edu device");
